"""Which errors mean that the database does not answer, in one place: the middleware turns
them into the calm 503 page, and the few paths that can do without the database for a while
(the petition page, signing: petitions.spool) catch them to do so."""

from django.db import InterfaceError, OperationalError

# A connection refused or lost, a server shutting down, a timeout: OperationalError; a
# connection already closed under the request: InterfaceError. Not IntegrityError and the like,
# which say the statement is wrong, not that the database is away.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
