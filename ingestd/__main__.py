"""`python -m ingestd`: the command line.

Spawned worker processes import this module as well, so it imports the CLI only when run.
"""

if __name__ == "__main__":
    from ingestd.launch import main

    main()
