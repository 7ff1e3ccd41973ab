"""Onboarding journeys: templates HR configures, tasks with Done buttons, check-ins with consent."""
