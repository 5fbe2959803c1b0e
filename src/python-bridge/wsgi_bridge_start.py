# The script the front ends start: it imports wsgi_bridge.py as a module and runs it. A script
# run by its path is compiled from source at every start (for wsgi_bridge.py ~40M instructions on
# CPython 3.11, as much as all of its imports), while an imported module is loaded from the code
# Python keeps in __pycache__ (written by the build, or by the first start that may write there).
import sys

if __name__ == '__main__':
    import wsgi_bridge
    sys.exit(wsgi_bridge.run(sys.argv[1:]))
