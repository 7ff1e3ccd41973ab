"""Everything that talks to a chat platform, one package per platform (`handlers/slack`; Teams next)."""
