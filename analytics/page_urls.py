"""The analytics page, a project's page at /app/p/<project id>/analytics/ (see pandaprobe/urls.py)."""

from django.urls import path

from pandaprobe.projects.access import project_page

from . import views

urlpatterns = [path("", project_page(views.analytics_page), name="analytics-page")]
