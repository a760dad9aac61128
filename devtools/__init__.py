"""Tools for developing wijkbot, shared by the tests (tests/) and the bench (bench/); never part of the product.

- `devtools.fake_telegram`: a fake Telegram Bot API server on loopback;
- `devtools.settings.bot_settings`: the bot's settings pointed at that fake.

The product packages (wijkbot/, db/, bot/, actions/, web/) import neither this package nor tests/ or bench/
(tests/test_layers.py checks it); bench/ and tests/ both import from here, and bench/ never from tests/.
"""
