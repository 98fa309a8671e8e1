"""Operations analytics routes, mounted at the root before the traces' routes, whose
`traces/<trace_id>` and `sessions/<session_id>` would otherwise take these paths for ids."""

from django.urls import path

from .api import operations as views

urlpatterns = [
    path("traces/analytics", views.TraceAnalyticsView.as_view(), name="api-trace-analytics"),
    path("traces/users", views.TraceUsersView.as_view(), name="api-trace-users"),
    path("sessions/analytics", views.SessionAnalyticsView.as_view(), name="api-session-analytics"),
]
