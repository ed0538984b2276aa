"""Growth: ``[[train.grow]]`` widens and deepens the backbone while it trains (Net2Net)."""
