from django.urls import path

from . import views

urlpatterns = [
    path("traces", views.TraceCollectionView.as_view(), name="api-traces"),
    path("traces/batch/delete", views.TraceBatchDeleteView.as_view(), name="api-traces-batch-delete"),
    path("traces/batch/tags", views.TraceBatchTagsView.as_view(), name="api-traces-batch-tags"),
    path("traces/<api_uuid:trace_id>", views.TraceDetailView.as_view(), name="api-trace-detail"),
    path("traces/<api_uuid:trace_id>/spans", views.SpanCollectionView.as_view(), name="api-trace-spans"),
    path(
        "traces/<api_uuid:trace_id>/spans/<api_uuid:span_id>",
        views.SpanDetailView.as_view(),
        name="api-span-detail",
    ),
    path("sessions", views.SessionCollectionView.as_view(), name="api-sessions"),
    # A session id may hold "/" (sent as %2F, which the server decodes before routing).
    path("sessions/<session:session_id>", views.SessionDetailView.as_view(), name="api-session-detail"),
]
