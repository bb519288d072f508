"""EventBridge Scheduler's API (boto3's `scheduler` client): schedules that invoke functions."""
