"""The live layer: operational tables in the warehouse's `live` schema that the streaming job keeps up to date
in every micro-batch (`tables`: what they are; `events`: a batch's rows as the live layer needs them)."""
