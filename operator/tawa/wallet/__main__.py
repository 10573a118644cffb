"""`python -m tawa.wallet [serve options]` — the same as `tawa wallet serve`."""

from tawa.cli.wallet import serve

if __name__ == "__main__":
    serve(prog_name="python -m tawa.wallet")
