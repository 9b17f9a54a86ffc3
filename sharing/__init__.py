"""Agency data sharing: consumers and their credentials, deny-by-default grants, access requests,
the sharing API with Circular 13's three answers, and the hash-chained exchange log."""
