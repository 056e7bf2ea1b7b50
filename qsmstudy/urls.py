from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

# JSON under /api/, Django's HTML page elsewhere.
handler500 = "api.errors.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # Browsers and bots ask for /favicon.ico whatever the pages link.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("favicon.svg"), permanent=True))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("clinical.urls")),
    path("", include("recon.urls")),
    path("", include("dashboard.urls")),
    path("", include("exchange.urls")),
    path("", include("api.urls")),
]
