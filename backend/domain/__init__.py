"""The pure domain core: rules with no Flask, SQLAlchemy, boto3 or Kivy imports.

Everything here is plain dataclasses, enums and functions, so the same code can run on
the server, in the driver client and in tests without a database or a web framework.
"""
