"""Presidio's analyzer REST API over the real AnalyzerEngine, with the standard library only.

The presidio-analyzer wheel ships the engine but not the Flask app of Presidio's Docker image, so
this serves the same routes and shapes: POST /analyze (an AnalyzerRequest body, answered with the
list of RecognizerResult dicts), GET /health, GET /recognizers, GET /supportedentities. Errors are
answered as {"error": "..."} with 400 for a malformed request and 500 otherwise, as that app does.

Started by presidio.sh (which installs the packages into a venv); see there.
"""

import argparse
import json
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.analyzer_request import AnalyzerRequest
from presidio_analyzer.nlp_engine import NlpEngineProvider

# The largest request body read; beyond it the request is refused rather than buffered.
MAX_BODY = 8 * 1024 * 1024


def build_engine(model: str) -> AnalyzerEngine:
    # Presidio's spaCy configuration (conf/spacy.yaml) with the model swapped in: the same
    # entity mapping and ignored labels as the Docker image.
    nlp_engine = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": {
                    "PER": "PERSON",
                    "PERSON": "PERSON",
                    "NORP": "NRP",
                    "FAC": "LOCATION",
                    "LOC": "LOCATION",
                    "LOCATION": "LOCATION",
                    "GPE": "LOCATION",
                    "ORG": "ORGANIZATION",
                    "ORGANIZATION": "ORGANIZATION",
                    "DATE": "DATE_TIME",
                    "TIME": "DATE_TIME",
                },
                "low_confidence_score_multiplier": 0.4,
                "low_score_entity_names": [],
                "labels_to_ignore": [
                    "ORG",
                    "ORGANIZATION",
                    "CARDINAL",
                    "EVENT",
                    "LANGUAGE",
                    "LAW",
                    "MONEY",
                    "ORDINAL",
                    "PERCENT",
                    "PRODUCT",
                    "QUANTITY",
                    "WORK_OF_ART",
                ],
            },
        }
    ).create_engine()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])


class Handler(BaseHTTPRequestHandler):
    engine: AnalyzerEngine
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        logging.info("%s %s", self.address_string(), fmt % args)

    def reply(self, status: int, body) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        language = parse_qs(url.query).get("language", ["en"])[0]
        if url.path == "/health":
            self.reply(200, b"Presidio Analyzer service is up")
        elif url.path == "/recognizers":
            recognizers = self.engine.get_recognizers(language)
            self.reply(200, [r.name for r in recognizers])
        elif url.path == "/supportedentities":
            self.reply(200, self.engine.get_supported_entities(language))
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        if urlparse(self.path).path != "/analyze":
            self.reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self.reply(413, {"error": f"body over {MAX_BODY} bytes"})
            self.close_connection = True
            return
        try:
            data = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(data, dict):
                raise TypeError("the body is not a JSON object")
            req = AnalyzerRequest(data)
        except (ValueError, TypeError) as e:
            self.reply(400, {"error": f"malformed request: {e}"})
            return
        try:
            if not req.text:
                raise Exception("No text provided")
            if not req.language:
                raise Exception("No language provided")
            results = self.engine.analyze(
                text=req.text,
                language=req.language,
                correlation_id=req.correlation_id,
                score_threshold=req.score_threshold,
                entities=req.entities,
                return_decision_process=req.return_decision_process,
                ad_hoc_recognizers=req.ad_hoc_recognizers,
                context=req.context,
                allow_list=req.allow_list,
                allow_list_match=req.allow_list_match,
                regex_flags=req.regex_flags,
            )
        except TypeError as e:
            self.reply(400, {"error": f"Failed to parse /analyze request for AnalyzerEngine.analyze(). {e}"})
            return
        except Exception as e:  # noqa: BLE001 - the REST app answers every engine error as 500
            logging.exception("analyze failed")
            self.reply(500, {"error": str(e.args[0]) if e.args else repr(e)})
            return
        body = json.dumps(results, default=lambda o: o.to_dict(), sort_keys=True)
        self.reply(200, body.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True, help="spaCy model package name or path")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    Handler.engine = build_engine(args.model)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    logging.info("presidio analyzer (model %s) on %s:%d", args.model, args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
