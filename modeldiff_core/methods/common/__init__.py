"""What the layer lens and the feature lens share (not an analysis: no face, not in the
registry): a stored run's inputs to a scaling view (`inputs`), the runner that measures one
intervention setting (`runner`), and a typed grid of scales (`scales`)."""
