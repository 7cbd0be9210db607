"""tagscan."""
