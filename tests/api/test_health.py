from flask.testing import FlaskClient


def test_healthz_reports_ok_after_checking_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_reports_503_when_the_database_is_gone(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    from backend.db.session import Database, get_database

    app.extensions["doorstep.db"] = Database("sqlite:////nonexistent-dir/doorstep.db")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["code"] == "database_unavailable"
    get_database(app).dispose()
