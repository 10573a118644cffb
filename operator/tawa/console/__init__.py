"""The Developer Console: a web page per org over the wallet (balances, ledger, buying tokens,
org keys, bill grants). It logs in with an org key and calls the wallet with that key only;
it holds no credential of its own, so it can do nothing the key could not (docs/console.md).

Layout: `settings` (TAWA_CONSOLE_*), `sessions` (the server-side session store), `pages`
(the HTML, escaped in one place), `app` (the routes and their security headers)."""
