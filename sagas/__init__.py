"""The saga lifecycle over the catalogue: descriptors, inputs, preparing and starting a
saga, awaiting it, operating it and following its progress."""
