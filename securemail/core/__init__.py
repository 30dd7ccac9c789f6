"""The pure model of securemail: standard library only, no I/O."""
