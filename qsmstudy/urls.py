from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

# JSON under /api/, Django's HTML page elsewhere.
handler500 = "api.errors.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("clinical.urls")),
    path("", include("recon.urls")),
    path("", include("dashboard.urls")),
    path("", include("exchange.urls")),
    path("", include("api.urls")),
]
