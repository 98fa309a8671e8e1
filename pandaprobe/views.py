"""Site-wide error pages: HTML under /app/ (and the admin), the API's JSON everywhere else."""

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

# The pages (and the admin) answer HTML; every other path is the API, which only ever answers JSON.
PAGE_PREFIXES = ("/app/", "/admin/")


def is_page(request: HttpRequest) -> bool:
    return request.path.startswith(PAGE_PREFIXES)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if is_page(request):
        return render(request, "404.html", status=404)
    return JsonResponse({"detail": "Not found."}, status=404)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if is_page(request):
        return render(request, "403.html", {"message": str(exception or "")}, status=403)
    return JsonResponse({"detail": str(exception or "") or "Permission denied"}, status=403)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    if is_page(request):
        return render(request, "400.html", status=400)
    return JsonResponse({"detail": "Bad request"}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    # A plain template for the pages: the failure may be in what base.html needs.
    if is_page(request):
        return HttpResponse(loader.get_template("500.html").render(), status=500)
    return JsonResponse({"detail": "Internal server error"}, status=500)


def no_such_page(request: HttpRequest, **kwargs) -> HttpResponse:
    """A path no page matches, where Django's own answer would be its technical 404 under DEBUG."""
    raise Http404("No such page")
