"""Submissions: every file a department sends, with its bytes kept, its receipt, and what was published from it.

A department publishes by sending files (dropped into its inbox folder or uploaded on the
department pages). Each file is a submission: an id, its SHA-256, who sent it and when, its bytes
in a content-addressed archive, and a receipt that says what became of every row.
"""
