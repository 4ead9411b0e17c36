"""Text and style operations: word tokens and edit distance, the layout of a text
(greeting, body, sign-off), and the executable operations rewrite rules are made of."""
