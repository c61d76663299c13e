from django.contrib import admin

from lab.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "last_message_id", "created_at"]
    search_fields = ["name"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "number", "author", "text", "created_at"]
    list_filter = ["room"]
    search_fields = ["text", "author"]
