from django.urls import path

from . import views

urlpatterns = [
    path("traces", views.TraceCollectionView.as_view(), name="traces"),
    path("traces/batch/delete", views.TraceBatchDeleteView.as_view(), name="traces-batch-delete"),
    path("traces/batch/tags", views.TraceBatchTagsView.as_view(), name="traces-batch-tags"),
    path("traces/<uuid:trace_id>", views.TraceDetailView.as_view(), name="trace-detail"),
    path("traces/<uuid:trace_id>/spans", views.SpanCollectionView.as_view(), name="trace-spans"),
    path("traces/<uuid:trace_id>/spans/<uuid:span_id>", views.SpanDetailView.as_view(), name="span-detail"),
    path("sessions", views.SessionCollectionView.as_view(), name="sessions"),
    path("sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session-detail"),
]
