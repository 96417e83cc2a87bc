"""``python -m regadvisor``: the same entry point as the ``regadvisor`` command."""

from .cli import main

if __name__ == "__main__":
    main()
