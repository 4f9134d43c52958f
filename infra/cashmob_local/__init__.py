"""Where cashmob runs other than Lambda: the local stack, the Stripe emulator,
the demo and packaging helpers. Nothing here ships to Lambda."""
