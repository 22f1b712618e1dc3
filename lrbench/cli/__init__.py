"""The command line: the only code that prints or exits. Imports everything; nothing imports it."""
