"""The analytics page, mounted at /app/analytics/ (the pages of evaluations keep /app/)."""

from django.urls import path

from . import views

urlpatterns = [path("", views.analytics_page, name="analytics-page")]
