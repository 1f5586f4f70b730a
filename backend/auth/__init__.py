"""Login, token refresh and the role guard every endpoint goes through."""
