"""Fixtures of the review-queue tests: two reviewers of the owner project."""

import pytest

from .queue_factories import member


@pytest.fixture
def alice(project):
    return member(project, "alice")


@pytest.fixture
def bob(project):
    return member(project, "bob")
