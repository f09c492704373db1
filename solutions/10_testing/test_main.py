"""Tests for the task API in main.py.

Run them from this folder with:  pytest -q
"""

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from httpx import ASGITransport, AsyncClient
from main import User, app, get_current_user, lifespan

SetUser = Callable[[str], None]


def override_user(name: str) -> None:
    app.dependency_overrides[get_current_user] = lambda: User(name=name)


# TODO 1 (done): the override replaces the real dependency until the test
# ends; clearing it keeps one test's user out of the next test.
@pytest.fixture
def as_user() -> Iterator[SetUser]:
    override_user("alice")
    yield override_user
    app.dependency_overrides.clear()


# TODO 2 (done): `with` runs the lifespan, which creates the task store.
@pytest.fixture
def client(as_user: SetUser) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


# TODO 3 (done): ASGITransport does not run the lifespan, so the fixture enters
# it itself before it sends requests.
@pytest_asyncio.fixture
async def async_client(as_user: SetUser) -> AsyncIterator[AsyncClient]:
    async with lifespan(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as ac:
            yield ac


# TODO 4 (done): the status code and every field of the body.
def test_create_task_returns_201(client: TestClient) -> None:
    response = client.post("/tasks/", json={"title": "Write tests", "priority": 2})
    assert response.status_code == 201
    assert response.json() == {
        "id": 1,
        "title": "Write tests",
        "priority": 2,
        "owner": "alice",
        "done": False,
    }


# TODO 5 (done)
def test_read_task_and_missing_task(client: TestClient) -> None:
    created = client.post("/tasks/", json={"title": "Read me"}).json()
    response = client.get(f"/tasks/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert client.get("/tasks/999").status_code == 404


# TODO 6 (done): invalid bodies get 422, and nothing is stored.
@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 101},
        {"title": "Ok", "priority": 0},
        {},
    ],
)
def test_invalid_task_is_422(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/tasks/", json=body)
    assert response.status_code == 422
    assert client.get("/tasks/").json() == []


# TODO 7 (done): no override here, so the real dependency checks the header.
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "alice-token"}],
)
def test_missing_or_bad_token_is_401(headers: dict[str, str]) -> None:
    with TestClient(app) as test_client:
        response = test_client.get("/tasks/", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_valid_token_is_accepted() -> None:
    with TestClient(app) as test_client:
        headers = {"Authorization": "Bearer bob-token"}
        response = test_client.post("/tasks/", json={"title": "Mine"}, headers=headers)
    assert response.status_code == 201
    assert response.json()["owner"] == "bob"


# TODO 8 (done): each user sees and reaches only their own tasks.
def test_users_see_only_their_tasks(client: TestClient, as_user: SetUser) -> None:
    client.post("/tasks/", json={"title": "Alice 1"})
    client.post("/tasks/", json={"title": "Alice 2"})
    as_user("bob")
    bob_task = client.post("/tasks/", json={"title": "Bob 1"}).json()
    assert [task["title"] for task in client.get("/tasks/").json()] == ["Bob 1"]

    as_user("alice")
    titles = [task["title"] for task in client.get("/tasks/").json()]
    assert titles == ["Alice 1", "Alice 2"]
    assert client.get(f"/tasks/{bob_task['id']}").status_code == 404
    assert client.delete(f"/tasks/{bob_task['id']}").status_code == 404


# TODO 9 (done): a list longer than `limit`, page by page.
def test_pagination(client: TestClient) -> None:
    for number in range(1, 6):
        client.post("/tasks/", json={"title": f"Task {number}"})

    def titles(query: str) -> list[str]:
        return [task["title"] for task in client.get(f"/tasks/?{query}").json()]

    assert titles("limit=2") == ["Task 1", "Task 2"]
    assert titles("skip=2&limit=2") == ["Task 3", "Task 4"]
    assert titles("skip=4&limit=2") == ["Task 5"]
    assert titles("skip=5") == []
    assert client.get("/tasks/?limit=0").status_code == 422


# TODO 10 (done): after a DELETE, the task is gone.
def test_delete_task(client: TestClient) -> None:
    task = client.post("/tasks/", json={"title": "Delete me"}).json()
    response = client.delete(f"/tasks/{task['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/tasks/{task['id']}").status_code == 404
    assert client.delete(f"/tasks/{task['id']}").status_code == 404


# TODO 11 (done): the async endpoint, through the async client.
@pytest.mark.asyncio
async def test_stats_count_done_and_open(async_client: AsyncClient) -> None:
    for title in ("One", "Two", "Three"):
        await async_client.post("/tasks/", json={"title": title})
    done = await async_client.post("/tasks/2/done")
    assert done.status_code == 200
    assert done.json()["done"] is True

    response = await async_client.get("/tasks/stats")
    assert response.status_code == 200
    assert response.json() == {"total": 3, "done": 1, "open": 2}


@pytest.mark.asyncio
async def test_each_start_begins_empty(async_client: AsyncClient) -> None:
    response = await async_client.get("/tasks/")
    assert response.status_code == 200
    assert response.json() == []
