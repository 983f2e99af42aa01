"""The social graph: follows, blocks and mutes, and what they allow."""
