"""The registry's revisions, oldest first."""
