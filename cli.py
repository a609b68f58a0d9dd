"""Run the `basepersona` command from a checkout without installing: `python cli.py sample --frame chatlog`."""

from basepersona.cli import main

if __name__ == "__main__":
    main()
