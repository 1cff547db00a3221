"""oppscope: size a new opportunity from the projects already delivered."""

__version__ = "0.1.0"
