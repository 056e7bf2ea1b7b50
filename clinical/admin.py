from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Exam, Membership, Patient, Study


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "field_strength_t", "created_at"]
    inlines = [MembershipInline]


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ["code", "study", "diagnosis", "onset_month"]
    list_filter = ["study", "diagnosis"]


@admin.register(Exam)
class ExamAdmin(SimpleHistoryAdmin):
    list_display = ["patient", "date", "spasticity", "hyperreflexia", "alsfrs_total"]
    list_filter = ["patient__study"]
