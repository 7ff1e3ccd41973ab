"""Fakes of Microsoft's services the Teams SDK talks to: the Bot Framework's OpenID keys (`auth`), the Bot
Connector (`connector`), and activities signed as the Bot Framework signs them (`requests`)."""
