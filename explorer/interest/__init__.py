"""The interest wing: models learned from the catalogue and from who liked what. Interest clusters (the
vocabulary exploration moves in) and the collaborative signal that grounds every query."""
