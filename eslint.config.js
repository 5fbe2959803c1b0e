import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['bench/results/', 'dist/', 'dist.building-*/', 'dist.old-*/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Injected into the CommonJS bundle, where require and __filename exist.
    files: ['scripts/import-meta-url.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __filename: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Node defines these three globals as accessors: optimized code still loads each through an
    // inline cache and a getter call, where an imported binding is a constant.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: "Import it: import { Buffer } from 'node:buffer'." },
        { name: 'process', message: "Import it: import process from 'node:process'." },
        { name: 'performance', message: "Import it: import { performance } from 'node:perf_hooks'." },
      ],
    },
  },
);
