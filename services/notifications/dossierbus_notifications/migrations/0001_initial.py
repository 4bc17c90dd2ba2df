"""Notifications: recipients, notifications and their delivery attempts, outbox and inbox.

Revision ID: notifications_0001
"""

from dossierbus_notifications.adapters.tables import delivery_attempts, notifications, recipients
from dossierbus_shared.db.messaging import initial_schema

revision = "notifications_0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema(recipients, notifications, delivery_attempts)
