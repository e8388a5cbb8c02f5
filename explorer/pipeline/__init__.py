"""The pipeline wing: the five steps (profile, plan, retrieve, rank, explain), the values that flow between
them (`values`), the events a streamed answer is made of (`events`), prompts as data (`prompts`), and the
checks on text going in (`injection`) and coming out (`grounding`) of the model."""
