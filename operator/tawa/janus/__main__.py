"""`python -m tawa.janus serve ...`: the same command as `tawa janus`."""

from tawa.cli.janus import group

if __name__ == "__main__":
    group(prog_name="python -m tawa.janus")
