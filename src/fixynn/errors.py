"""The one exception type users see as a one-line error (the CLI prints it and exits 2)."""


class FixynnError(Exception):
    """A user-facing error: the message names the file/field and says how to fix it."""


INTERRUPTED = 130  # the exit status after Ctrl-C (the shell's 128 + SIGINT)
