"""The staff workspace on the web (issue 13; docs/web.md): a thin edge over wijkbot.workspace."""
