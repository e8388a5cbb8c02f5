"""The interest wing: models learned from the catalogue and from who liked what. Interest clusters (the
vocabulary exploration moves in) and the user-interest model that scores every item for any history
(base.InterestModel: EASE, the SASRec-style sequence model, item-item CF; chosen by `interest.model`)."""
