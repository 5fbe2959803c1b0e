export const LAUNCHER_SOURCE: string;
export const LAUNCHER_FLAGS: string[];
export const SANITIZER_FLAGS: string[];
export function findCompiler(): string | null;
export function compileLauncher(options: {
  cc: string;
  out: string;
  entry: string;
  node?: string;
  extraFlags?: string[];
}): void;
