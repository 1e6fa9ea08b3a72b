"""One view: POST /orders/<id> stores an event in JetStream and asks the inventory service."""

import os

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

import natsync.contrib.django as nats


@csrf_exempt
def create_order(request: HttpRequest, order_id: str) -> JsonResponse:
    nc = nats.client()  # this process's client, connected on first use
    nc.jetstream().publish("orders.created", order_id.encode(), timeout=2)
    reply = nc.request("inventory.reserve", order_id.encode(), timeout=2)
    return JsonResponse({"order": order_id, "reserved": reply.data.decode(),
                         "pid": os.getpid(), "client_pid": nats.holder.owner_pid,
                         "connection": f"{nc.server_info.get('server_id')}/{nc.client_id}"})


urlpatterns = [path("orders/<str:order_id>", create_order)]
